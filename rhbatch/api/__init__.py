"""RunningHub over HTTP, and the only aiohttp users of the runtime: the client (``client``),
the shapes of its answers (``wire``), the webhook receiver (``webhooks``) and where the key
and base URL come from (``credentials``)."""
