import datetime


def lambda_handler(event, context):
    now = datetime.datetime.now(datetime.UTC).isoformat()
    print(f"scheduled run at {now} for rule {event.get('resources', ['?'])[0]}")
    return {"ranAt": now}
