"""A small allocation-heavy Python workload for the quick start: builds,
serialises and parses JSON, counts words, sorts, and keeps a cache that
grows and shrinks."""
import collections
import json
import random

random.seed(42)
records = [{"id": i, "name": "user%d" % i, "tags": ["t%d" % (i % 17)] * (i % 5),
            "payload": "x" * random.randrange(1, 3000)} for i in range(100000)]
text = json.dumps(records)
back = json.loads(text)
words = collections.Counter(w for r in back for w in r["tags"])
cache = {}
for i in range(300000):
    cache[i % 50000] = bytes(random.randrange(1, 2000))
    if i % 100000 == 0:
        cache.clear()
ranked = sorted(back, key=lambda r: (len(r["payload"]), r["id"]))
print("records %d, json %d bytes, tags %d, cache %d, longest id %d"
      % (len(back), len(text), len(words), len(cache), ranked[-1]["id"]))
