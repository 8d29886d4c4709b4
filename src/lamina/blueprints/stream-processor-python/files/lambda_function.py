import base64
import json


def lambda_handler(event, context):
    for record in event["Records"]:
        try:
            if "kinesis" in record:
                data = json.loads(base64.b64decode(record["kinesis"]["data"]))
                sequence = record["kinesis"]["sequenceNumber"]
            else:
                data = record["dynamodb"].get("NewImage", {})
                sequence = record["dynamodb"]["SequenceNumber"]
            print(f"{record['eventSource']} {sequence}: {data}")
        except Exception as error:
            print(f"failed at {record.get('eventID')}: {error}")
            return {"batchItemFailures": [{"itemIdentifier": sequence}]}
    return {"batchItemFailures": []}
