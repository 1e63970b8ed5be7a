-- Revenue per day: confirmed payments less refunds requested, by the day they were recorded.
SELECT date_trunc('day', recorded_at)::date AS day,
       sum(CASE WHEN event_type = 'PaymentConfirmed' THEN (payload->>'amount_paid')::numeric ELSE 0 END) AS paid,
       sum(CASE WHEN event_type = 'RefundRequested' THEN (payload->'refund'->>'amount')::numeric ELSE 0 END) AS refunded,
       sum(CASE WHEN event_type = 'PaymentConfirmed' THEN (payload->>'amount_paid')::numeric
                WHEN event_type = 'RefundRequested' THEN -(payload->'refund'->>'amount')::numeric
                ELSE 0 END) AS revenue,
       count(*) FILTER (WHERE event_type = 'PaymentConfirmed') AS payments
FROM events
WHERE event_type IN ('PaymentConfirmed', 'RefundRequested')
GROUP BY 1
ORDER BY 1;
