CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '1000');
CREATE TABLE jams WITH ('connector' = 'file', 'path' = 'jams.json', 'format' = 'json');
CREATE TABLE all_rows WITH ('connector' = 'blackhole');
INSERT INTO jams SELECT sensor_id, ts FROM traffic WHERE congested;
INSERT INTO all_rows SELECT * FROM traffic;
