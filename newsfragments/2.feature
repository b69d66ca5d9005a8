Core: ServerApp and ClientApp over Autobahn with token authorization, heartbeat, messages and requests with Deferred replies, reconnecting client with a bounded outbox, and a twistd plugin.
