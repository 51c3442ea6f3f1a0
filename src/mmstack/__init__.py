"""mmstack: a self-hosted multimodal LLM stack."""

__version__ = "0.1.0"
