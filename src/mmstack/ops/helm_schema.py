"""`values.schema.json`: the JSON schema Helm checks the chart's values against before it
renders (a typo or `replicas: "three"` stops an install instead of reaching the cluster)."""

from __future__ import annotations

from typing import Any

QUANTITY = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti)?$"}
NAME = {"type": "string", "pattern": r"^[a-z][a-z0-9-]{0,62}$"}
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
COUNT = {"type": "integer", "minimum": 0}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }
    if required is not None:
        schema["required"] = required
    return schema


def _strings() -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}}


_HANDLER = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {
        "exec": _object({"command": _strings()}, ["command"]),
        "httpGet": _object({"path": {"type": "string"}, "port": PORT}, ["path", "port"]),
        "tcpSocket": _object({"port": PORT}, ["port"]),
    },
    "additionalProperties": False,
}

_PROBE = {
    "oneOf": [
        {"type": "null"},
        _object(
            {
                "handler": _HANDLER,
                "livenessHandler": _HANDLER,
                "periodSeconds": {"type": "integer", "minimum": 1},
                "timeoutSeconds": {"type": "integer", "minimum": 1},
                "failureThreshold": {"type": "integer", "minimum": 1},
                "startupFailureThreshold": {"type": "integer", "minimum": 1},
            },
            ["handler"],
        ),
    ]
}

_QUANTITIES = _object({"cpu": QUANTITY, "memory": QUANTITY})

_SERVICE = _object(
    {
        "enabled": {"type": "boolean"},
        "stack": {"enum": ["core", "inference", "ai", "ui", "testing", "monitoring"]},
        "image": {"type": "string", "minLength": 1},
        "command": _strings(),
        "args": _strings(),
        "ports": {
            "type": "array",
            "items": _object({"port": PORT, "published": {"type": "boolean"}}, ["port"]),
        },
        "env": {
            "type": "array",
            "items": _object(
                {
                    "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
                    "value": {"type": "string"},
                },
                ["name", "value"],
            ),
        },
        "secrets": {"type": "array", "items": NAME},
        "probe": _PROBE,
        "resources": _object({"limits": _QUANTITIES, "requests": _QUANTITIES}),
        "replicas": COUNT,
        "autoscaleMax": COUNT,
        "gpus": COUNT,
        "podSecurityContext": {"type": "object"},
        "securityContext": {"type": "object"},
        "tmpfs": {"type": "array", "items": {"type": "string", "pattern": "^/"}},
        "volumes": {
            "type": "array",
            "items": _object(
                {
                    "name": NAME,
                    "mountPath": {"type": "string", "pattern": "^/"},
                    "readOnly": {"type": "boolean"},
                },
                ["name", "mountPath"],
            ),
        },
        "strategy": {"enum": ["Recreate", "RollingUpdate"]},
        "networks": {"type": "array", "items": NAME},
        "migrate": _strings(),
        "generated": {
            "type": "array",
            "items": _object(
                {
                    "key": {"type": "string", "pattern": r"^[A-Za-z0-9._-]+$"},
                    "mountPath": {"type": "string", "pattern": "^/"},
                },
                ["key", "mountPath"],
            ),
        },
        "metricsPort": {"type": "integer", "minimum": 0, "maximum": 65535},
        "rotationRules": {"type": "boolean"},
    },
    ["enabled", "image", "replicas"],
)


def values_schema() -> dict[str, Any]:
    schema = _object(
        {
            "project": NAME,
            "storageClass": {"type": "string"},
            "autoscaling": _object(
                {
                    "targetCPUUtilizationPercentage": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 100,
                    }
                }
            ),
            "networkPolicy": _object({"enabled": {"type": "boolean"}}),
            "volumes": {
                "type": "object",
                "propertyNames": NAME,
                "additionalProperties": _object(
                    {"size": QUANTITY, "accessMode": {"enum": ["ReadWriteOnce", "ReadWriteMany"]}},
                    ["size"],
                ),
            },
            "services": {
                "type": "object",
                "propertyNames": NAME,
                "additionalProperties": _SERVICE,
            },
        },
        ["services"],
    )
    # Helm adds `global` to every chart's values.
    schema["properties"]["global"] = {"type": "object"}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "mmstack chart values",
        **schema,
    }
