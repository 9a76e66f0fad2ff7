CREATE TABLE traffic WITH ('connector' = 'generator', 'sensrs' = '10');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out SELECT * FROM traffic;
