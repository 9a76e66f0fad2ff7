CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE MONITOR speed_drift ON traffic (speed) WITH ('method' = 'kswin', 'window_size' = '50', 'stat_size' = '30');
