-- Revenue per day: confirmed payments less refunds requested, by the day they were recorded.
SELECT substr(recorded_at, 1, 10) AS day,
       round(sum(CASE WHEN event_type = 'PaymentConfirmed' THEN json_extract(payload, '$.amount_paid') ELSE 0 END), 2) AS paid,
       round(sum(CASE WHEN event_type = 'RefundRequested' THEN json_extract(payload, '$.refund.amount') ELSE 0 END), 2) AS refunded,
       round(sum(CASE WHEN event_type = 'PaymentConfirmed' THEN json_extract(payload, '$.amount_paid')
                      WHEN event_type = 'RefundRequested' THEN -json_extract(payload, '$.refund.amount')
                      ELSE 0 END), 2) AS revenue,
       sum(event_type = 'PaymentConfirmed') AS payments
FROM events
WHERE event_type IN ('PaymentConfirmed', 'RefundRequested')
GROUP BY 1
ORDER BY 1;
