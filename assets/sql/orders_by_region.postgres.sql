-- The article's read model: the orders of each region as one JSON array.
-- Adapted to the workshop store, where region and order id live in the payload.
-- eventscope runs only the query part of this definition, read-only: nothing is created.
-- The workshop store has an older `orders_by_region` deployed: "Compare with deployed" shows
-- what deploying this definition would change.
CREATE MATERIALIZED VIEW orders_by_region AS
SELECT payload->>'region_id' AS region_id,
       jsonb_agg(jsonb_build_object(
           'order_id', payload->>'order_id',
           'total', (payload->>'amount')::numeric,
           'placed_at', (payload->>'at')::timestamptz
       ) ORDER BY position) AS orders
FROM events
WHERE event_type = 'OrderPlaced'
GROUP BY payload->>'region_id';
