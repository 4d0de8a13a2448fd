"""What RunningHub offers: one JSON Schema per endpoint (``registry``) and the public prices
(``pricing``), both shipped with rhbatch and read offline."""
