"""Rate limits on a sliding window: per API key, per web session, per client address.

``rate`` parses budgets and does the window's arithmetic; ``backends`` keep the counts (in
this process, or in Redis shared by every process); ``rules`` say which budgets a request
spends and whose they are; ``middleware`` answers 429 and adds the ``RateLimit-*`` headers.
"""
