// Refund requests per customer: one state per customer (a partition), built from every Order
// stream. A customer asking twice for the same order shows up under `orders_refunded_twice`,
// and each refund is linked into a per-customer stream (recorded as "would emit", never written).
fromCategory("Order")
  .partitionBy((e) => e.data.customer_id)
  .when({
    $init: () => ({ requests: 0, requested_amount: 0, denied: 0, orders: {}, orders_refunded_twice: [] }),

    RefundRequested: (s, e) => {
      s.requests += 1;
      s.requested_amount = Math.round((s.requested_amount + e.data.refund.amount) * 100) / 100;
      s.orders[e.streamId] = (s.orders[e.streamId] || 0) + 1;
      if (s.orders[e.streamId] === 2) {
        s.orders_refunded_twice.push(e.streamId);
      }
      linkTo(`refunds-${e.data.customer_id}`, e);
      return s;
    },

    RefundDenied: (s, e) => {
      s.denied += 1;
      return s;
    },
  })
  .outputState();
