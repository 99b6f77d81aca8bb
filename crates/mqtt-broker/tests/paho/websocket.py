"""paho-mqtt (2.x) over WebSockets against our broker: subscribe, publish, receive.

Usage: websocket.py PORT [CAFILE]   (with CAFILE: wss, checking the server against it)
Prints "ok" and exits 0 on success.
"""
import sys
import threading

import paho.mqtt.client as mqtt

port = int(sys.argv[1])
cafile = sys.argv[2] if len(sys.argv) > 2 else None
got = threading.Event()
subscribed = threading.Event()
received = []


def on_connect(client, userdata, flags, reason_code, properties):
    if reason_code == 0:
        client.subscribe("paho/ws", qos=1)


def on_subscribe(client, userdata, mid, reason_codes, properties):
    subscribed.set()


def on_message(client, userdata, message):
    received.append(message.payload)
    got.set()


for protocol in (mqtt.MQTTv311, mqtt.MQTTv5):
    got.clear()
    subscribed.clear()
    received.clear()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, transport="websockets", protocol=protocol)
    c.ws_set_options(path="/mqtt")
    if cafile:
        c.tls_set(ca_certs=cafile)
    c.on_connect = on_connect
    c.on_subscribe = on_subscribe
    c.on_message = on_message
    c.connect("localhost", port, keepalive=30)
    c.loop_start()
    if not subscribed.wait(10):
        sys.exit(f"protocol {protocol}: not subscribed")
    c.publish("paho/ws", b"hello over websockets" * 1000, qos=1)
    if not got.wait(10):
        sys.exit(f"protocol {protocol}: message not received")
    if received[0] != b"hello over websockets" * 1000:
        sys.exit(f"protocol {protocol}: wrong payload {received[0][:40]!r}")
    c.disconnect()
    c.loop_stop()
print("ok")
