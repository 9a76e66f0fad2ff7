CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE MONITOR speed_drift ON traffic (speed) WITH ('method' = 'psi');
