package dev.floe.e2e.hms;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hive.metastore.HiveMetaStore;
import org.apache.hadoop.hive.metastore.conf.MetastoreConf;
import org.apache.hadoop.hive.metastore.txn.TxnDbUtil;

/**
 * Starts a standalone Hive Metastore for the floe e2e test bed.
 *
 * <p>datanucleus.schema.autoCreateAll makes the metastore's tables, not the
 * transaction and lock tables that iceberg-go's commits need (lock,
 * check_lock, unlock): TxnDbUtil.prepDb makes those, in the same in-memory
 * Derby database (metastore-site.xml on the class path names it), before the
 * metastore serves.
 */
public final class MetastoreLauncher {
  private MetastoreLauncher() {}

  public static void main(String[] args) throws Throwable {
    Configuration conf = MetastoreConf.newMetastoreConf();
    TxnDbUtil.prepDb(conf);
    HiveMetaStore.main(args);
  }
}
