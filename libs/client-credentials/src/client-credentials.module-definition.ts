import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { ClientCredentialsModuleOptions } from './client-credentials.options';

export const {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN: CLIENT_CREDENTIALS_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<ClientCredentialsModuleOptions>()
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: false }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();

/** Options of `ClientCredentialsModule.forRootAsync()`. */
export type ClientCredentialsModuleAsyncOptions = typeof ASYNC_OPTIONS_TYPE;
