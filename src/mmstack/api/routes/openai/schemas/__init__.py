"""Request and response bodies of the OpenAI-compatible API, shaped as the `openai` SDK's
types expect them (same `object` values and fields)."""
