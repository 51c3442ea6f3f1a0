"""Chat LLM backends behind one router: llama.cpp in-process and OpenAI-compatible
upstreams, in OpenAI's chat-completions shapes."""
