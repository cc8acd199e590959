"""The request bodies of `make bench`, one file each, written into the results folder: one
realistic item per model for our server and FastAPI (the same v1 shape), the same wrapped in
KServe's `{"instances": [...]}`, a v2 BYTES tensor, and a batch of 32 reviews."""

import json
import math
import sys
from pathlib import Path

out = Path(sys.argv[1])
REVIEWS = [
    "The plot was thin, but the acting was wonderful and I would happily watch it again.",
    "A tedious, overlong film with wooden dialogue and no reason to care about anyone in it.",
    "Solid performances and a clever script, though the final act drags a little.",
    "I laughed, I cried, and I left the cinema wanting to see it a second time.",
]
items = {
    "sentiment": {"text": REVIEWS[0]},
    "topic": {"text": "The shuttle launch was delayed again after engineers found a fault in the "
                      "booster's fuel line; NASA now expects the orbiter to fly next month."},
    "email": {"subject": "Your invoice for November",
              "body": "Hello Sam,\n\nplease find attached the invoice for last month's consulting work. "
                      "Payment is due within thirty days; the bank details are on the second page. "
                      "Let me know if anything is unclear or if you need a purchase order number on it.\n\n"
                      "Best regards,\nAlex"},
    "recsys": {"user_id": "196", "item_id": "242"},
    # Ten years of a monthly series with a yearly season, a trend and some noise.
    "trend": {"values": [round(200 + 1.5 * t + 25 * math.sin(2 * math.pi * t / 12) + 6 * math.sin(7.3 * t), 2)
                         for t in range(120)], "horizon": 12},
}
recommend = {"user_id": "196", "k": 10}
for name, item in items.items():
    (out / f"{name}.json").write_text(json.dumps(item))
    (out / f"k-{name}.json").write_text(json.dumps({"instances": [item]}))
(out / "recommend.json").write_text(json.dumps(recommend))
(out / "k-recommend.json").write_text(json.dumps({"instances": [recommend]}))
batch = [{"text": REVIEWS[i % len(REVIEWS)]} for i in range(32)]
(out / "batch32.json").write_text(json.dumps({"inputs": batch}))
(out / "k-batch32.json").write_text(json.dumps({"instances": batch}))
(out / "v2.json").write_text(json.dumps(
    {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [REVIEWS[0]]}]}))
