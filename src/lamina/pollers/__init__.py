"""Event source pollers (level 3, beside the queue): they read a source (SQS, Amazon MQ for RabbitMQ;
Kinesis and DynamoDB Streams plug in the same way) and feed its records to a function in batches.

Must not import lamina.engine or lamina.store (they are reached through the callables handed in),
nor lamina.api, lamina.invoke or lamina.server. Everything a poller needs arrives in a `Hooks`
(lamina.pollers.hooks), which lamina.server builds:

- `invoke(function_name, qualifier, payload) -> Awaitable[Delivery]`: a synchronous
  (RequestResponse) invoke; `Delivery.function_error` is None on success, the response payload is
  in `Delivery.payload`. It raises on a system problem (throttled, function gone...): the batch
  then counts as failed and the poller retries it as the source's rules say.
- `report(uuid, last_processing_result, problem)`: what the mapping shows (blocking: call it with
  `Hooks.tell`, which runs it off the loop and only when something changed). `problem` is shown
  in StateTransitionReason while it lasts; None says it is over.
- `metrics`: per-mapping counters (batches, records, errors, backlog) - lamina.telemetry's
  MappingMetrics or None.
- `sources`: boto3 clients at the configured endpoints (lamina.pollers.sources) and the AMQP URL of
  each configured broker.

The interface for a kind of source: a factory `(mapping: EventSourceMapping, hooks: Hooks) ->
Poller`, registered under the mapping's kind ("sqs", "kinesis", "dynamodb", "mq") in the dict
handed to `Pollers` (lamina.pollers.fleet). A `Poller` has one coroutine, `run()`, which polls
until it returns or is cancelled, and may have `stop()`: `Pollers` starts one task per enabled
mapping and stops it when the mapping is updated (then starts a new one with the new
configuration), disabled or deleted, and on server stop: `stop()` first (finish the batches in
flight, start no new one, return from `run()`), cancellation after STOP_WAIT_S.
A poller must survive its source being unreachable (retry with `hooks.backoff`, report the
problem) and never let an exception escape `run()` except CancelledError; if one does anyway,
`Pollers` logs it, reports it and restarts the poller after a pause. Checkpoints (streams) are the
poller's to keep through a callable its factory is given in server.py.
"""
