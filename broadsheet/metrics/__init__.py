"""Prometheus metrics: what the processes count and time, and ``/metrics`` that shows them.

Importing this package imports nothing else: ``broadsheet serve`` points prometheus-client at
its multiprocess directory (:mod:`.multiprocess`) before the client is first imported, since
the client picks where values live when it is imported.
"""
