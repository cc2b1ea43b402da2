"""libmq.matcher - MQTTMatcher as in paho.mqtt.matcher: a map from topic
filters to values that yields the values whose filter matches a topic.
Matching uses libmq's own rules (mq_topic_matches: '$' topics are not
matched by a leading wildcard).

Not thread-safe by itself; the Client guards its instance with a lock.
"""
from . import mq_core as _core

__all__ = ["MQTTMatcher"]


class MQTTMatcher:
    """Filters to values; iter_match(topic) yields matching values."""

    def __init__(self):
        self._items = {}

    def __setitem__(self, key, value):
        self._items[key] = value

    def __getitem__(self, key):
        return self._items[key]

    def __delitem__(self, key):
        del self._items[key]

    def __contains__(self, key):
        return key in self._items

    def __len__(self):
        return len(self._items)

    def iter_match(self, topic):
        if not self._items:
            return
        for flt, value in list(self._items.items()):
            if _core.mq_topic_matches(flt, topic) == 1:
                yield value
