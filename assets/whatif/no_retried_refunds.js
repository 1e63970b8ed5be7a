// What if no refund had ever been requested twice?
//
// ORD-1042 was refunded twice: the support tool retried a RefundRequested after a time-out, and
// the retry was recorded as a second event, caused by the first. Skip every RefundRequested
// caused by another one, and see which orders' states would change.
({
  category: "Order",
  stream: (events) => {
    const refunds = events.filter((e) => e.type === "RefundRequested" && e.metadata);
    const ids = new Set(refunds.map((e) => e.metadata.event_id));
    const retried = refunds.filter((e) => ids.has(e.metadata.causation_id));
    return retried.length ? { skip: retried.map((e) => e.version) } : null;
  },
})
