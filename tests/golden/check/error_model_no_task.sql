CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'stdout');
CREATE MODEL m INPUT (speed DOUBLE) OUTPUT (congested BOOLEAN) WITH ('algorithm' = 'logistic_regression');
INSERT INTO m SELECT speed, congested FROM traffic;
