-- The article's read model in SQLite's dialect: the orders of each region as one JSON array.
-- eventscope runs only the query part of this definition, read-only: nothing is created.
-- The workshop store has an older `orders_by_region` deployed: "Compare with deployed" shows
-- what deploying this definition would change.
CREATE VIEW orders_by_region AS
SELECT json_extract(payload, '$.region_id') AS region_id,
       json_group_array(json_object(
           'order_id', json_extract(payload, '$.order_id'),
           'total', json_extract(payload, '$.amount'),
           'placed_at', json_extract(payload, '$.at')
       ) ORDER BY position) AS orders
FROM events
WHERE event_type = 'OrderPlaced'
GROUP BY json_extract(payload, '$.region_id');
