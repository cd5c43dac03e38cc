/**
 * Preloaded into a gateway (NODE_OPTIONS=--import) to make it die by SIGKILL inside the
 * settle transaction, at the write CRASH_IN_SETTLE names: `state` (the task's row turns
 * completed), `capture` (the hold's capture entry) or `charge` (the usage line, the last
 * write before the commit). A connection-local TEMP trigger calls back into this process,
 * so the gateway's own code runs unchanged and nothing is left in the database file.
 * Plain JavaScript: NODE_OPTIONS imports run before the tsx loader is registered.
 */
import BetterSqlite3 from 'better-sqlite3';

const triggers = {
  state: "AFTER UPDATE OF status ON main.tasks WHEN NEW.status = 'completed'",
  capture: "AFTER INSERT ON main.ledger WHEN NEW.kind = 'capture'",
  charge: 'AFTER INSERT ON main.charges',
};
const point = process.env.CRASH_IN_SETTLE;
const when = triggers[point];
if (!when) throw new Error(`CRASH_IN_SETTLE must be one of ${Object.keys(triggers).join(', ')}`);

const armed = new WeakSet();
const transaction = BetterSqlite3.prototype.transaction;
// The store makes its transactions once its migrations have run, so the tables exist by then.
BetterSqlite3.prototype.transaction = function (fn) {
  if (!armed.has(this)) {
    armed.add(this);
    this.function('crash_in_settle', () => {
      process.kill(process.pid, 'SIGKILL');
      // SIGKILL to ourselves lands before this returns in practice; never let the commit run.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    });
    this.exec(`CREATE TEMP TRIGGER crash_in_settle ${when} BEGIN SELECT crash_in_settle(); END`);
  }
  return transaction.call(this, fn);
};
