-- At least one checkpoint is kept.
SET 'state.checkpoints.num-retained' = '0';
CREATE TABLE t WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out SELECT * FROM t;
