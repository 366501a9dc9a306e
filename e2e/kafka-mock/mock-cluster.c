/*
 * Kafka test broker: librdkafka's mock cluster in a process of its own.
 *
 *   mock-cluster <brokers> [topic[:partitions]]...
 *
 * Prints the bootstrap servers on stdout (one line), then reads commands on stdin, one per
 * line, answering "ok" or "err <message>":
 *   down <brokerId|-1>   disconnect a broker and refuse new connections (no leader change)
 *   up <brokerId|-1>     accept connections again
 *   quit                 exit
 * Exits when stdin closes, so a test that dies takes its broker with it.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void answer(rd_kafka_resp_err_t err) {
        if (err)
                printf("err %s\n", rd_kafka_err2str(err));
        else
                printf("ok\n");
        fflush(stdout);
}

int main(int argc, char **argv) {
        char errstr[512];
        char line[256];
        int brokers = argc > 1 ? atoi(argv[1]) : 3;
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mcluster;
        int i;

        if (brokers < 1) {
                fprintf(stderr, "usage: %s <brokers> [topic[:partitions]]...\n", argv[0]);
                return 2;
        }

        conf = rd_kafka_conf_new();
        /* The handle only hosts the cluster; keep its own logging quiet. */
        rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "rd_kafka_new: %s\n", errstr);
                return 1;
        }
        mcluster = rd_kafka_mock_cluster_new(rk, brokers);
        if (!mcluster) {
                fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
                return 1;
        }

        for (i = 2; i < argc; i++) {
                char name[256];
                int partitions = 1;
                char *colon;
                rd_kafka_resp_err_t err;

                snprintf(name, sizeof(name), "%s", argv[i]);
                colon = strrchr(name, ':');
                if (colon) {
                        *colon = '\0';
                        partitions = atoi(colon + 1);
                        if (partitions < 1)
                                partitions = 1;
                }
                /* Replication factor = broker count (capped at 3) so acks=all waits for the ISR. */
                err = rd_kafka_mock_topic_create(mcluster, name, partitions,
                                                 brokers < 3 ? brokers : 3);
                if (err) {
                        fprintf(stderr, "topic %s: %s\n", name, rd_kafka_err2str(err));
                        return 1;
                }
        }

        printf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
        fflush(stdout);

        while (fgets(line, sizeof(line), stdin)) {
                int id;

                if (sscanf(line, "down %d", &id) == 1)
                        answer(rd_kafka_mock_broker_set_down(mcluster, id));
                else if (sscanf(line, "up %d", &id) == 1)
                        answer(rd_kafka_mock_broker_set_up(mcluster, id));
                else if (strncmp(line, "quit", 4) == 0) {
                        answer(RD_KAFKA_RESP_ERR_NO_ERROR);
                        break;
                } else {
                        printf("err unknown command\n");
                        fflush(stdout);
                }
        }

        rd_kafka_mock_cluster_destroy(mcluster);
        rd_kafka_destroy(rk);
        return 0;
}
