"""Hooks: what the program tells the world once an item is archived or failed.

`_plan` decides, without any I/O, which `[[hooks]]` want an event, the JSON
document they receive, the outbox rows recorded with the item's transition,
a command's arguments and the wait after a failed delivery.  `_deliver` runs
a command or POSTs to a URL, once, and says whether that worked.
"""
