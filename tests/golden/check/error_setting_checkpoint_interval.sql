-- A checkpoint interval is a duration.
SET 'execution.checkpointing.interval' = 'often';
CREATE TABLE t WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out SELECT * FROM t;
