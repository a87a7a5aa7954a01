# Sourced by scripts/test: RabbitMQ's management HTTP API (127.0.0.1:15672), through which
# the operator gives each dedicated shop its own vhost and user. Enables the plugin when
# the port does not answer (idempotent), then waits for it.

management_answers() {
  (exec 3<>/dev/tcp/127.0.0.1/15672) 2>/dev/null
}

ensure_rabbitmq_management() {
  management_answers && return 0
  if ! command -v rabbitmq-plugins >/dev/null 2>&1 && [ ! -x /usr/sbin/rabbitmq-plugins ]; then
    echo "RabbitMQ's management API (127.0.0.1:15672) does not answer and rabbitmq-plugins" \
      "is not installed: install RabbitMQ on this machine" >&2
    return 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "RabbitMQ's management API (127.0.0.1:15672) does not answer: enable it with" \
      "'sudo rabbitmq-plugins enable rabbitmq_management' (or run the tests as root)" >&2
    return 1
  fi
  echo "» enabling RabbitMQ's management plugin (the operator makes shops' vhosts through it)" >&2
  PATH="$PATH:/usr/sbin" rabbitmq-plugins enable --quiet rabbitmq_management >/dev/null
  for _ in $(seq 1 60); do
    management_answers && return 0
    sleep 1
  done
  echo "RabbitMQ's management API still does not answer on 127.0.0.1:15672 after 60 s" >&2
  return 1
}
