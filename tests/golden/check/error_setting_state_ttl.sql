-- 'table.exec.state.ttl' is a duration.
SET 'table.exec.state.ttl' = 'one hour';
CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out SELECT * FROM traffic;
