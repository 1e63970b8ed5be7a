// Orders and revenue by region, across every Order stream of the store.
// Revenue is what was paid, less refunds requested; tax recalculations add to the taxed total.
fromCategory("Order")
  .when({
    $init: () => ({ regions: {}, order_regions: {} }),

    OrderPlaced: (s, e) => {
      const region = (s.regions[e.data.region_id] ??= { orders: 0, placed_amount: 0, paid: 0, refunded: 0, revenue: 0, tax: 0 });
      region.orders += 1;
      region.placed_amount = Math.round((region.placed_amount + e.data.amount) * 100) / 100;
      s.order_regions[e.streamId] = e.data.region_id;
      return s;
    },

    PaymentConfirmed: (s, e) => {
      const region = s.regions[s.order_regions[e.streamId]];
      if (region) {
        region.paid = Math.round((region.paid + e.data.amount_paid) * 100) / 100;
        region.revenue = Math.round((region.paid - region.refunded) * 100) / 100;
      }
      return s;
    },

    RefundRequested: (s, e) => {
      const region = s.regions[s.order_regions[e.streamId]];
      if (region) {
        region.refunded = Math.round((region.refunded + e.data.refund.amount) * 100) / 100;
        region.revenue = Math.round((region.paid - region.refunded) * 100) / 100;
      }
      return s;
    },

    OrderTaxRecalculated: (s, e) => {
      const region = s.regions[s.order_regions[e.streamId]];
      if (region) {
        region.tax = Math.round((region.tax + e.data.tax) * 100) / 100;
      }
      return s;
    },
  })
  .outputState();
