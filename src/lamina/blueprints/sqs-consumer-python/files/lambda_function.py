import json


def process(record):
    body = json.loads(record["body"])
    if body.get("fail"):
        raise ValueError(f"cannot process message {record['messageId']}")
    print(f"processed message {record['messageId']}: {body}")


def lambda_handler(event, context):
    failures = []
    for record in event["Records"]:
        try:
            process(record)
        except Exception as error:  # report this message only; the rest of the batch is done
            print(f"failed: {error}")
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
