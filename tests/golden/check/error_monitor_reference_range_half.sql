CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE MONITOR speed_drift ON traffic (speed)
  WITH ('method' = 'ks', 'window' = '1 minute', 'reference.start' = '2026-01-01 00:00:00');
