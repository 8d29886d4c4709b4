handler () {
  EVENT_DATA=$1
  echo "received: $EVENT_DATA" 1>&2
  echo "{\"echo\": $EVENT_DATA}"
}
