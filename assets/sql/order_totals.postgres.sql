-- Each order's amount and the tax recalculated on it: the invoices read model.
-- Try it with the what-if example tax_one_more_week.js: the orders the extended tax job would
-- reach get their tax, row by row. eventscope runs it read-only: nothing is created.
SELECT placed.payload->>'order_id' AS order_id,
       placed.payload->>'region_id' AS region_id,
       (placed.payload->>'amount')::numeric AS amount,
       coalesce(sum((tax.payload->>'tax')::numeric), 0) AS tax
FROM events AS placed
LEFT JOIN events AS tax
       ON tax.aggregate_id = placed.aggregate_id AND tax.event_type = 'OrderTaxRecalculated'
WHERE placed.event_type = 'OrderPlaced'
GROUP BY placed.aggregate_id, placed.payload
ORDER BY order_id;
