CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE MONITOR speed_drift ON traffic (speed)
  WITH ('method' = 'psi', 'window' = '1 minute', 'reference.path' = 'no/such/reference.json');
