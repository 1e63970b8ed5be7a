// What if the retroactive VAT change had reached one more week of orders?
//
// The tax job appended OrderTaxRecalculated (5 %) to every order placed before 2026-03-16.
// Finance now asks for the same for orders placed before 2026-03-23. Try the job first: for each
// order placed in that week that has no recalculation yet, append the event the job would.
//
// A what-if script evaluates to an object: `category` (optional) chooses the streams, and
// `stream(events, info)` gets each stream's events (as folds see them) and returns null (nothing
// changes) or { append: [{ type, data, metadata }], skip: [versions] }. Nothing is written.
({
  category: "Order",
  stream: (events) => {
    const placed = events.find((e) => e.type === "OrderPlaced");
    if (!placed || placed.data.at >= "2026-03-23") return null;
    if (events.some((e) => e.type === "OrderTaxRecalculated")) return null;
    const cents = Math.round(placed.data.amount * 100);
    const tax = Math.round(cents * 0.05);
    return {
      append: [
        {
          type: "OrderTaxRecalculated",
          data: {
            tax_rate: 0.05,
            tax: tax / 100,
            amount_with_tax: (cents + tax) / 100,
            reason: "retroactive VAT change, extended by one week",
          },
          metadata: { actor: "system:tax-job", command: "RecalculateTax" },
        },
      ],
    };
  },
})
