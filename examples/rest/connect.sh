#!/bin/sh
# The REST API with curl: make a connect link for a tenant, list its connections, run a health check.
#   NOON_CONNECT_URL=http://127.0.0.1:8787 NOON_CONNECT_API_TOKEN=… sh connect.sh link acme
#   sh connect.sh list acme
#   sh connect.sh health <connection id>
set -eu
: "${NOON_CONNECT_URL:?set NOON_CONNECT_URL, e.g. http://127.0.0.1:8787}"
: "${NOON_CONNECT_API_TOKEN:?set NOON_CONNECT_API_TOKEN}"
api() {
  curl -sS --fail-with-body -H "authorization: Bearer $NOON_CONNECT_API_TOKEN" "$@"
}
case "${1:-}" in
  link)
    # Send the seller's browser to the "url" of the answer; it is single use and short-lived.
    api -X POST "$NOON_CONNECT_URL/api/connect-links" -H 'content-type: application/json' \
      -d "{\"tenant\":\"$2\",\"return_to\":\"/\"}"
    ;;
  list)
    api "$NOON_CONNECT_URL/api/connections?tenant=$2"
    ;;
  health)
    api -X POST "$NOON_CONNECT_URL/api/connections/$2/health-check"
    ;;
  *)
    echo "usage: connect.sh link <tenant> | list <tenant> | health <connection id>" >&2
    exit 2
    ;;
esac
echo
