"""The durable asynchronous queue: accepted Event invocations, retries, destinations.

Imports lamina.store and lamina.model; it runs events through an `invoke` callable it is
handed and never imports the engine, control or the HTTP layer.
"""
