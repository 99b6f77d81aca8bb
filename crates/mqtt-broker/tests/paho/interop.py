"""Interop checks of mqtt-broker with Eclipse paho-mqtt (Python), MQTT 3.1.1 and 5.0.

Usage: python3 interop.py PORT. Exits 0 when every check passed; prints one line per check.
Each wait is bounded and event driven (threading.Event), never a fixed sleep.
"""
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

PORT = int(sys.argv[1])
WAIT = 5.0
failures = []


def check(name, ok):
    print(("ok   " if ok else "FAIL ") + name)
    if not ok:
        failures.append(name)


def client(cid, protocol):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=protocol)
    return c


def connect(c, **kw):
    connected = threading.Event()
    result = {}

    def on_connect(cl, userdata, flags, reason_code, properties):
        result["rc"] = reason_code
        result["flags"] = flags
        result["props"] = properties
        connected.set()

    c.on_connect = on_connect
    c.connect("127.0.0.1", PORT, keepalive=30, **kw)
    c.loop_start()
    if not connected.wait(WAIT):
        raise SystemExit("no CONNACK")
    return result


def pubsub(protocol, label):
    got = []
    arrived = threading.Event()
    sub = client("paho-sub-" + label, protocol)

    def on_message(cl, userdata, msg):
        got.append(msg)
        if len(got) == 3:
            arrived.set()

    sub.on_message = on_message
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    connect(sub)
    sub.subscribe("paho/" + label + "/#", qos=2)
    check(label + " suback", subscribed.wait(WAIT))
    pub = client("paho-pub-" + label, protocol)
    connect(pub)
    for qos in (0, 1, 2):
        pub.publish("paho/" + label + "/q%d" % qos, "payload-%d" % qos, qos=qos).wait_for_publish(WAIT)
    check(label + " three messages delivered", arrived.wait(WAIT))
    check(label + " payloads and QoS",
          sorted((m.payload.decode(), m.qos) for m in got)
          == [("payload-0", 0), ("payload-1", 1), ("payload-2", 2)])
    # Retained: set, then a new subscriber receives it with the retain flag.
    pub.publish("paho/" + label + "/retained", "kept", qos=1, retain=True).wait_for_publish(WAIT)
    late = client("paho-late-" + label, protocol)
    retained = threading.Event()
    seen = []

    def on_retained(cl, userdata, msg):
        seen.append(msg)
        retained.set()

    late.on_message = on_retained
    connect(late)
    late.subscribe("paho/" + label + "/retained", qos=1)
    check(label + " retained delivered", retained.wait(WAIT) and seen[0].retain and seen[0].payload == b"kept")
    pub.publish("paho/" + label + "/retained", b"", qos=1, retain=True).wait_for_publish(WAIT)
    for c in (sub, pub, late):
        c.disconnect()
        c.loop_stop()


def v5_properties():
    got = threading.Event()
    received = {}
    sub = client("paho-v5-props-sub", mqtt.MQTTv5)

    def on_message(cl, userdata, msg):
        received["msg"] = msg
        got.set()

    sub.on_message = on_message
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    connect(sub)
    sp = Properties(PacketTypes.SUBSCRIBE)
    sp.SubscriptionIdentifier = 42
    sub.subscribe("paho/v5/props", qos=1, properties=sp)
    subscribed.wait(WAIT)
    pub = client("paho-v5-props-pub", mqtt.MQTTv5)
    connect(pub)
    pp = Properties(PacketTypes.PUBLISH)
    pp.ResponseTopic = "paho/v5/reply"
    pp.CorrelationData = b"corr-1"
    pp.UserProperty = [("a", "1"), ("b", "2")]
    pp.ContentType = "text/plain"
    pp.MessageExpiryInterval = 60
    pub.publish("paho/v5/props", "hello", qos=1, properties=pp).wait_for_publish(WAIT)
    check("v5 message delivered", got.wait(WAIT))
    props = received["msg"].properties
    check("v5 response topic passed through", props.ResponseTopic == "paho/v5/reply")
    check("v5 correlation data passed through", props.CorrelationData == b"corr-1")
    check("v5 user properties in order", props.UserProperty == [("a", "1"), ("b", "2")])
    check("v5 content type", props.ContentType == "text/plain")
    check("v5 subscription identifier", props.SubscriptionIdentifier == [42])
    check("v5 remaining expiry", 0 < props.MessageExpiryInterval <= 60)
    # An empty client id gets an assigned one.
    anon = client("", mqtt.MQTTv5)
    result = connect(anon)
    check("v5 assigned client identifier",
          getattr(result["props"], "AssignedClientIdentifier", "").startswith("auto-"))
    for c in (sub, pub, anon):
        c.disconnect()
        c.loop_stop()


pubsub(mqtt.MQTTv311, "v311")
pubsub(mqtt.MQTTv5, "v5")
v5_properties()
print("%d failed" % len(failures))
sys.exit(1 if failures else 0)
