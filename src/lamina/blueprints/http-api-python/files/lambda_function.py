import json


def lambda_handler(event, context):
    method = event["requestContext"]["http"]["method"]
    path = event["rawPath"]
    if method == "GET" and path == "/":
        name = (event.get("queryStringParameters") or {}).get("name", "world")
        return {"statusCode": 200, "headers": {"content-type": "application/json"},
                "body": json.dumps({"message": f"hello, {name}"})}
    return {"statusCode": 404, "body": json.dumps({"message": f"no route for {method} {path}"})}
