CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '1000');
CREATE TABLE features WITH ('connector' = 'blackhole');
INSERT INTO features SELECT * FROM LATE_ROWS(traffic);
