"""The one place where untrusted raw files meet code; audit here what a download may make us do.

* `unpickler`: every pickle (NAS-Bench-201's `.pth` records, NATS's `.pbz2` files) is loaded by
  the C unpickler allowed only the few globals the releases use (OrderedDict, numpy's dtype and
  scalar, _codecs.encode, set, frozenset), each swapped for an inert stand-in that builds plain
  values and cannot be changed by BUILD, and no persistent ids: a pickle can describe data but
  never make us import or call anything. Before loading, memo indices larger than the pickle's
  bytes, and nesting or tuples beyond the releases' shapes, are refused, so a small pickle cannot
  claim a large memory. (The `.pth` skeleton walk in nasbench201/pth.py runs no unpickler and
  refuses any global it meets.)
* `archives`: every member of an archive (NDS's zip, NATS's tar) passes one check before anything
  is read: its name cannot escape a directory, it is a regular file or directory (no link, device
  or FIFO), it is not encrypted and its declared size and compression ratio are bounded, so a
  hostile archive can neither point us elsewhere nor exhaust memory or disk.

Other raw formats (NAS-Bench-101's TFRecord of JSON and protobuf, NDS's JSON) are parsed as plain
data by code that builds nothing but numbers, strings and containers: they need no boundary.

Format: docs/formats.md#safety-rules.
"""
