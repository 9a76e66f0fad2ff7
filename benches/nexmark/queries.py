"""The Nexmark queries, as Weir and as Flink run them.

Each query is the Flink SQL of the nexmark/nexmark repository's
`nexmark-flink/src/main/resources/queries`, over RisingWave's snake_case
columns (date_time, item_name, email_address, ...). Where Weir spells a
function differently (DataFusion's names) or a query had to change, the
Weir text differs and NOTES says how; Flink runs its own text. q15-q17
group by a one-day TUMBLE window where the originals group by
DATE_FORMAT(dateTime, 'yyyy-MM-dd'); the nexmark-rs generator writes US
states in lower case, so q3 compares with 'or', 'id' and 'ca'.
"""

# q15's and q16's counts of bids, bidders and auctions per price rank.
RANKS = (
    " count(*) FILTER (WHERE price < 10000) AS rank1_bids,"
    " count(*) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bids,"
    " count(*) FILTER (WHERE price >= 1000000) AS rank3_bids,"
    " count(DISTINCT bidder) AS total_bidders,"
    " count(DISTINCT bidder) FILTER (WHERE price < 10000) AS rank1_bidders,"
    " count(DISTINCT bidder) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bidders,"
    " count(DISTINCT bidder) FILTER (WHERE price >= 1000000) AS rank3_bidders,"
    " count(DISTINCT auction) AS total_auctions,"
    " count(DISTINCT auction) FILTER (WHERE price < 10000) AS rank1_auctions,"
    " count(DISTINCT auction) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_auctions,"
    " count(DISTINCT auction) FILTER (WHERE price >= 1000000) AS rank3_auctions"
)

# name -> (tables read, Weir's query, Flink's query or None for the same)
QUERIES = {
    "q0": (["bid"], "SELECT auction, bidder, price, date_time, extra FROM bid", None),
    "q1": (["bid"], "SELECT auction, bidder, 0.908 * price AS price, date_time, extra FROM bid", None),
    "q2": (["bid"], "SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0", None),
    "q3": (
        ["auction", "person"],
        "SELECT P.name, P.city, P.state, A.id FROM auction AS A INNER JOIN person AS P ON A.seller = P.id "
        "WHERE A.category = 10 AND (P.state = 'or' OR P.state = 'id' OR P.state = 'ca')",
        None,
    ),
    "q5": (
        ["bid"],
        "SELECT AuctionBids.auction, AuctionBids.num FROM ("
        " SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime"
        " FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))"
        " GROUP BY auction, window_start, window_end) AS AuctionBids "
        "JOIN ("
        " SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime FROM ("
        "  SELECT count(*) AS num, window_start AS starttime, window_end AS endtime"
        "  FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))"
        "  GROUP BY auction, window_start, window_end) AS CountBids"
        " GROUP BY CountBids.starttime, CountBids.endtime) AS MaxBids "
        "ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime AND AuctionBids.num >= MaxBids.maxn",
        None,
    ),
    "q7": (
        ["bid"],
        "SELECT B.auction, B.price, B.bidder, B.date_time, B.extra FROM bid B "
        "JOIN (SELECT MAX(price) AS maxprice, window_end AS date_time"
        " FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))"
        " GROUP BY window_start, window_end) B1 "
        "ON B.price = B1.maxprice WHERE B.date_time BETWEEN B1.date_time - INTERVAL '10' SECOND AND B1.date_time",
        None,
    ),
    "q8": (
        ["person", "auction"],
        "SELECT P.id, P.name, P.starttime FROM ("
        " SELECT id, name, window_start AS starttime, window_end AS endtime"
        " FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(date_time), INTERVAL '10' SECOND))"
        " GROUP BY id, name, window_start, window_end) P "
        "JOIN ("
        " SELECT seller, window_start AS starttime, window_end AS endtime"
        " FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(date_time), INTERVAL '10' SECOND))"
        " GROUP BY seller, window_start, window_end) A "
        "ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime",
        None,
    ),
    "q11": (
        ["bid"],
        "SELECT bidder, count(*) AS bid_count, window_start AS starttime, window_end AS endtime"
        " FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(date_time), INTERVAL '10' SECOND))"
        " GROUP BY bidder, window_start, window_end",
        None,
    ),
    "q15": (
        ["bid"],
        "SELECT window_start AS day_start, count(*) AS total_bids," + RANKS
        + " FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '1' DAY)) GROUP BY window_start, window_end",
        None,
    ),
    "q16": (
        ["bid"],
        "SELECT channel, window_start AS day_start, max(date_time) AS last_bid, count(*) AS total_bids," + RANKS
        + " FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '1' DAY)) GROUP BY channel, window_start, window_end",
        None,
    ),
    "q17": (
        ["bid"],
        "SELECT auction, window_start AS day_start, count(*) AS total_bids,"
        " count(*) FILTER (WHERE price < 10000) AS rank1_bids,"
        " count(*) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bids,"
        " count(*) FILTER (WHERE price >= 1000000) AS rank3_bids,"
        " min(price) AS min_price, max(price) AS max_price, CAST(avg(price) AS BIGINT) AS avg_price, sum(price) AS sum_price"
        " FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '1' DAY))"
        " GROUP BY auction, window_start, window_end",
        None,
    ),
    "q20": (
        ["bid", "auction"],
        "SELECT auction, bidder, price, channel, url, B.date_time AS bid_time, B.extra AS bid_extra,"
        " item_name, description, initial_bid, reserve, A.date_time AS auction_time, expires, seller, category, A.extra AS auction_extra"
        " FROM bid AS B INNER JOIN auction AS A ON B.auction = A.id WHERE A.category = 10",
        None,
    ),
    "q21": (
        ["bid"],
        "SELECT auction, bidder, price, channel, CASE"
        " WHEN lower(channel) = 'apple' THEN '0' WHEN lower(channel) = 'google' THEN '1'"
        " WHEN lower(channel) = 'facebook' THEN '2' WHEN lower(channel) = 'baidu' THEN '3'"
        " ELSE regexp_match(url, '(&|^)channel_id=([^&]*)')[2] END AS channel_id FROM bid"
        " WHERE regexp_match(url, '(&|^)channel_id=([^&]*)')[2] IS NOT NULL OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu')",
        "SELECT auction, bidder, price, channel, CASE"
        " WHEN lower(channel) = 'apple' THEN '0' WHEN lower(channel) = 'google' THEN '1'"
        " WHEN lower(channel) = 'facebook' THEN '2' WHEN lower(channel) = 'baidu' THEN '3'"
        " ELSE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) END AS channel_id FROM bid"
        " WHERE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) IS NOT NULL OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu')",
    ),
    "q22": (
        ["bid"],
        "SELECT auction, bidder, price, channel, split_part(url, '/', 4) AS dir1, split_part(url, '/', 5) AS dir2,"
        " split_part(url, '/', 6) AS dir3 FROM bid",
        "SELECT auction, bidder, price, channel, SPLIT_INDEX(url, '/', 3) AS dir1, SPLIT_INDEX(url, '/', 4) AS dir2,"
        " SPLIT_INDEX(url, '/', 5) AS dir3 FROM bid",
    ),
}

NOTES = {
    "q3": "states in lower case (the nexmark-rs generator's)",
    "q15": "one-day TUMBLE instead of GROUP BY DATE_FORMAT(date_time, 'yyyy-MM-dd'); the day column is day_start (day is reserved in Flink)",
    "q16": "one-day TUMBLE; max(date_time) instead of max(DATE_FORMAT(dateTime, 'HH:mm'))",
    "q17": "one-day TUMBLE; CAST(avg(price) AS BIGINT), Flink's AVG of a BIGINT",
    "q21": "regexp_match(...)[2] for REGEXP_EXTRACT(..., 2)",
    "q22": "split_part (1-based) for SPLIT_INDEX (0-based)",
}

COLUMNS = {
    "person": [("id", "BIGINT"), ("name", "STRING"), ("email_address", "STRING"), ("credit_card", "STRING"),
               ("city", "STRING"), ("state", "STRING"), ("date_time", "TIMESTAMP"), ("extra", "STRING")],
    "auction": [("id", "BIGINT"), ("item_name", "STRING"), ("description", "STRING"), ("initial_bid", "BIGINT"),
                ("reserve", "BIGINT"), ("date_time", "TIMESTAMP"), ("expires", "TIMESTAMP"), ("seller", "BIGINT"),
                ("category", "BIGINT"), ("extra", "STRING")],
    "bid": [("auction", "BIGINT"), ("bidder", "BIGINT"), ("price", "BIGINT"), ("channel", "STRING"), ("url", "STRING"),
            ("date_time", "TIMESTAMP"), ("extra", "STRING")],
}
