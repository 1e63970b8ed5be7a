// The workshop Order, folded the way the order service would fold it.
//
// A fold file evaluates to an object of handlers by event type, in the shape of the KurrentDB
// projection API: `$init` gives the state before the first event; a handler gets the state and
// the event `e` = { type, data, metadata, streamId, version, position, recordedAt } and returns
// the state (changed in place or new). `$any` handles event types without a handler.
(() => {
  const cents = (amount) => Math.round(amount * 100);
  const euros = (c) => c / 100;

  // Which status may follow which: anything else is recorded as a warning.
  const allowed = {
    new: ["placed", "rejected"],
    placed: ["paid", "payment_declined"],
    payment_declined: ["paid", "payment_declined"],
    paid: ["refund_requested"],
    refund_requested: ["refund_requested"],
  };

  function move(s, e, next) {
    if (!(allowed[s.status] || []).includes(next)) {
      s.warnings.push(`v${e.version} ${e.type}: ${s.status} → ${next} is not an allowed transition`);
    }
    s.status = next;
  }

  function recompute(s) {
    s.subtotal = euros(s.lines.reduce((sum, l) => sum + cents(l.line_total), 0));
    s.total = euros(cents(s.subtotal) + cents(s.tax));
    s.balance = euros(cents(s.paid) - cents(s.refunded));
  }

  return {
    $init: () => ({
      status: "new",
      lines: [],
      subtotal: 0,
      tax_rate: 0,
      tax: 0,
      total: 0,
      paid: 0,
      refunds: [],
      refunded: 0,
      balance: 0,
      warnings: [],
    }),

    OrderPlaced: (s, e) => {
      s.order_id = e.data.order_id;
      s.customer_id = e.data.customer_id;
      s.region_id = e.data.region_id;
      s.placed_at = e.data.at;
      s.lines = e.data.lines.map((l) => ({
        sku: l.sku,
        qty: l.qty,
        unit_price: l.unit_price,
        line_total: euros(l.qty * cents(l.unit_price)),
      }));
      recompute(s);
      if (cents(s.subtotal) !== cents(e.data.amount)) {
        s.warnings.push(`v${e.version}: the lines add up to ${s.subtotal}, the event says ${e.data.amount}`);
      }
      move(s, e, "placed");
      return s;
    },

    OrderRejected: (s, e) => {
      s.order_id = e.data.order_id;
      s.customer_id = e.data.customer_id;
      s.rejection_reason = e.data.reason;
      move(s, e, "rejected");
      return s;
    },

    PaymentDeclined: (s, e) => {
      s.declined_payments = (s.declined_payments || 0) + 1;
      s.last_decline_reason = e.data.decline_reason;
      move(s, e, "payment_declined");
      return s;
    },

    PaymentConfirmed: (s, e) => {
      s.payment_id = e.data.payment_id;
      s.paid = e.data.amount_paid;
      s.paid_at = e.data.paid_at;
      recompute(s);
      move(s, e, "paid");
      return s;
    },

    OrderTaxRecalculated: (s, e) => {
      // Retroactive: the status does not change, the total does.
      s.tax_rate = e.data.tax_rate;
      s.tax = e.data.tax;
      recompute(s);
      return s;
    },

    RefundRequested: (s, e) => {
      const refund = e.data.refund;
      s.refunds.push({ amount: refund.amount, requested_at: refund.requested_at, by: e.metadata.actor, version: e.version });
      s.refunded = euros(cents(s.refunded) + cents(refund.amount));
      recompute(s);
      if (cents(s.refunded) > cents(s.paid)) {
        s.warnings.push(`v${e.version}: refunds (${s.refunded}) exceed the payment (${s.paid})`);
      }
      move(s, e, "refund_requested");
      return s;
    },

    RefundDenied: (s, e) => {
      s.refund_denied_reason = e.data.refund_denied_reason;
      return s;
    },

    $any: (s, e) => {
      s.warnings.push(`v${e.version}: no handler for ${e.type}`);
      return s;
    },
  };
})()
