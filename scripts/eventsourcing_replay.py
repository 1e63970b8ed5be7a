"""The Python eventsourcing library's own replay of one long aggregate, for `eventscope state`'s
figure in the README.

    pip install eventsourcing
    python3 scripts/eventsourcing_replay.py /tmp/es100k.sqlite 100000   # writes the store once
    eventscope state /tmp/es100k.sqlite <the hex id it prints, without dashes>

Writes (when the file does not exist) a SQLite store through the library with one Account
aggregate of N events, then times the library's replay of it (`repository.get`, no snapshots)
and a raw read of its stored events with Python's sqlite3, best of three each.
"""
import os, sys, time, sqlite3
from uuid import UUID
path = sys.argv[1]
n = int(sys.argv[2])
os.environ["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
os.environ["SQLITE_DBNAME"] = path
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner: str):
        self.owner = owner
        self.balance = 0
        self.history = 0
    @event("Deposited")
    def deposit(self, amount: int, note: str):
        self.balance += amount
        self.history += 1
        self.last_note = note

class Bank(Application):
    pass

fresh = not os.path.exists(path)
app = Bank()
if fresh:
    acc = Account(owner="alice")
    app.save(acc)
    batch = 0
    for i in range(1, n):
        acc.deposit(amount=i % 100, note=f"deposit number {i} from the branch office")
        if i % 1000 == 0:
            app.save(acc)
    app.save(acc)
    with open(path + ".id", "w") as f:
        f.write(str(acc.id))
aid = UUID(open(path + ".id").read().strip())
times = []
for _ in range(3):
    t = time.perf_counter()
    a = app.repository.get(aid)
    times.append(time.perf_counter() - t)
print(f"library replay of {a.version} events: best {min(times):.3f} s (of 3), balance {a.balance}")
con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
times = []
for _ in range(3):
    t = time.perf_counter()
    rows = con.execute("SELECT state FROM stored_events WHERE originator_id = ? ORDER BY originator_version", (aid.hex,)).fetchall()
    times.append(time.perf_counter() - t)
print(f"raw read of {len(rows)} rows: best {min(times):.3f} s")
print(aid.hex)
