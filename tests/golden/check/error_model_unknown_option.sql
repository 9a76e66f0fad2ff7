CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'stdout');
CREATE MODEL m INPUT (speed DOUBLE) OUTPUT (congested BOOLEAN) WITH ('task' = 'classification', 'learning_rat' = '0.1');
INSERT INTO m SELECT speed, congested FROM traffic;
